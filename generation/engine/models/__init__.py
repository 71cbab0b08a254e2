"""The built-in model's learned stages: keyframe, depth and refiner networks, and shared blocks."""
