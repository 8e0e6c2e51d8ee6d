"""What rave-gui knows of RAVE: commands and pre-flight, the launcher, its output and files."""
