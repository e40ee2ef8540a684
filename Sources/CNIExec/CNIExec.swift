// CNIExec: placeholder, replaced by its owner.
