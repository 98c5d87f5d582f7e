"""The shared kernel: policy, ports, the payload and fact bases, data files and paths. Imports no slice."""
