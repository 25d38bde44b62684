"""Dataset versions: what data a scan read, named by a string id (`base.DatasetVersion`)."""
