// BackendSDK: placeholder, replaced by its owner.
