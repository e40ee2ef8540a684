// BackendHost: placeholder, replaced by its owner.
