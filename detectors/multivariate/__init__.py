"""Multivariate drift: changes in the relations between columns that per-column tests miss.

Two methods share one finding shape (`multivariate_drift`, column None):

- `pca_reconstruction` (`pca_detector`): a PCA fitted on the reference from engine
  aggregates; each window's mean reconstruction error is one engine aggregate
  (`engine_queries`), tested against the sampling distribution of a window mean
  (`threshold`);
- `domain_classifier` (`classifier`): a gradient-boosting classifier told apart seeded
  bounded samples of the reference and the window; its cross-validated AUC is tested
  against the AUC's null distribution.
"""
