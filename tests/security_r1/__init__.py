"""Red team R1: attacks on the denials, iam:PassRole and the metadata tree."""
