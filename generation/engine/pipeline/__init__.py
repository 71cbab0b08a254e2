"""The built-in model's pipeline: check inputs -> encode prompt -> keyframe -> depth -> cache
render -> refine -> optics, each stage a module of its own."""
