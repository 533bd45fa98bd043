"""Runtimes run a deployment's scoring server: ``local`` (a virtualenv and processes on this host, the embedded
default), ``container`` (an image through the Docker Engine API) and ``kubernetes`` (manifests applied to a cluster).
All share the interface of ``base.Runtime``."""
