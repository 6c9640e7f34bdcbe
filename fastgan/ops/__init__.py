"""Op families of fastgan: input checks, Triton launchers, autograd and the public functions."""
