// Netlink: placeholder, replaced by its owner.
