"""The data and the splits: a data set's features (``dataset``), the protocols (``protocols``: cv,
filtered, file), stratified folds (``splits``) and split files (``splitfile``; ``data/`` holds the
artist-filtered GTZAN split)."""
