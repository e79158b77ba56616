"""Drawing shared by the command line and the console."""
