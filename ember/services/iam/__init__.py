"""IAM: the account's users, groups, roles, access keys and policies, over an IamStore."""
