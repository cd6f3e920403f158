"""Container metadata: ids from cgroups (`rae.containers.cgroup`) and the container table."""
