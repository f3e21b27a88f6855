"""`modelspec compare RUN RUN...`: final metrics, counts, times and spec differences of runs."""
