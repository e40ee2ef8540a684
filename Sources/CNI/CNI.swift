// CNI: placeholder, replaced by its owner.
