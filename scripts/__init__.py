"""tgcn-serve tooling by role: client/, archive/, serve/, bench/, tools/; wlasl_data.py holds the shared data lookups."""
