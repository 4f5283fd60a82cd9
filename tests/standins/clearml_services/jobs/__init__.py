"""Stand-in for the clearml-server apiserver's ``jobs`` package (test only): see README.md."""
