"""MLflow's tracking wire protocol: the only part of ``tracking`` that knows paths, string ids and MLflow JSON."""
