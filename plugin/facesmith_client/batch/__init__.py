"""`facesmith batch`: one edit over a folder of photos, resumable, on either engine.

plan (which photos, where their results go) → stages (prepare: decode, detect, align; edit:
the faces of several photos in one server call; finish: paste back, write atomically) → an
engine runs the stages: local.py (this process, against one server or spread over several)
or on_ray.py (Ray Data: CPU tasks around model actors). manifest.py records each photo and
progress.py shows the run; the driver is the command, cli/batch.py.

Imports point down: engines → stages → pipeline, vision, remote; nothing here imports the
CLI. Ray is imported only by on_ray.py, when `--engine ray` runs.
"""
