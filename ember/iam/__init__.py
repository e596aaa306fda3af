"""Who may do what: SigV4 signatures, IAM policy documents and their evaluation, and the catalogue
of AWS's actions, resources and condition keys. Pure logic below the services, which keep the
identities; the edge checks every request through it."""
