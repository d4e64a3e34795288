"""Red team R2: attacks on the terminal's files, the personal shell token, the console forms
and the lab's checks."""
