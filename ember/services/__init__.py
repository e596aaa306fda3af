"""Built-in AWS services beside Lambda, one package each, and the plumbing every service
(Lambda's included) shares: `base` (what a service hands the edge) and `binding` (handlers
bound to the model's operations by name)."""
