"""Talking to models: message types, the streaming clients and local backend, reasoning split, timing, the
operator's endpoints, limits, the playground engine, the runs store and safe rendering."""
