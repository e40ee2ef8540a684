// Swift Testing needs at least one test file per target.
