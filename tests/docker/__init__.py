"""Static checks of docker/: the images, the compose stack and the cluster files."""
