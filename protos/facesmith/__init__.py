"""facesmith wire package: the generated gRPC stubs (``facesmith.v1``) and the pixel conventions
shared by the server, the host-side runtime and the CLI."""
