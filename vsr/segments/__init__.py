"""Long videos in segments cut at keyframes, so that each can be upscaled on its own (and on
another machine) and the results rejoined frame-exact."""
