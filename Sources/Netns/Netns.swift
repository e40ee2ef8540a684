// Netns: placeholder, replaced by its owner.
