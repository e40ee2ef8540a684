// IPAM: placeholder, replaced by its owner.
