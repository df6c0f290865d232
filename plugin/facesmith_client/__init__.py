"""facesmith host-side runtime: detection, alignment, paste-back, gRPC client, CLI."""
