"""Run exported files: engines (float32 at the boundary), validation, latency measurement."""
