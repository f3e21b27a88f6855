"""Lecture T's transfer learning without a network: `methods` (instance re-weighting, TCA) and
`cli` (`modelspec transfer`)."""
