"""`facesmith train sketch`: a sketch encoder for the pack (faces from line drawings):
rough sketches made from faces (strokes), the encoder trained on them (train), written into
the pack (install) and measured (measure)."""
