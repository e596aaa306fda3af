"""The Lambda control plane and invoke API: operation handlers over models, store and invoker."""
