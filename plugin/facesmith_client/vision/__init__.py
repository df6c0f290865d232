"""Photo stages as pure functions on arrays: face detection (MTCNN), FFHQ-style alignment,
face masks and paste-back, reading and writing image files.

Shared by the runtime and by training, so both see faces the same way. May import only the
``facesmith`` base package (pixel conventions, alignment templates) and third-party libraries.
"""
