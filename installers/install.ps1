# Install facesmith for Krita and GIMP on Windows: finds Python 3.10+ and runs install.py with
# the same arguments (see `powershell -File installers\install.ps1 --help`).
#   powershell -ExecutionPolicy Bypass -File installers\install.ps1 [--with-server] [--dry-run]
#   powershell -ExecutionPolicy Bypass -File installers\install.ps1 --uninstall [--remove-runtime]
# $env:PYTHON = "C:\...\python.exe" names the interpreter that creates the runtime environment.
$installer = Join-Path $PSScriptRoot "install.py"
$versionCheck = "import sys; sys.exit(sys.version_info < (3, 10))"

function Test-Python([string[]]$command) {
    # True when $command (program + leading arguments) runs Python 3.10 or newer.
    if (-not (Get-Command $command[0] -ErrorAction SilentlyContinue)) { return $false }
    $rest = @($command | Select-Object -Skip 1)
    try { & $command[0] @rest -c $versionCheck *> $null } catch { return $false }
    return $LASTEXITCODE -eq 0
}

if ($env:PYTHON) {
    $candidates = @(, @($env:PYTHON))
} else {
    # The py launcher finds the newest installed Python; python.exe may be the Store's alias,
    # which fails the check when no Python is installed.
    $candidates = @(@("py", "-3"), @("python"), @("python3"))
}

foreach ($command in $candidates) {
    if (Test-Python $command) {
        $rest = @($command | Select-Object -Skip 1)
        & $command[0] @rest $installer @args
        exit $LASTEXITCODE
    }
}
[Console]::Error.WriteLine(
    "error: facesmith needs Python 3.10 or newer and found none. Install it from python.org " +
    "(tick 'Add python.exe to PATH'), or name one: `$env:PYTHON = 'C:\path\to\python.exe'")
exit 2
