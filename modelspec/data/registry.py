"""Closed registries of the `data:` section: sources, generated sets, transforms, augmentations.

Pure data (no TensorFlow): each entry maps a `type:` name to the JSON Schema of its arguments.
`modelspec.data.schema` turns these tables into the section's schema; the pipeline modules
look the same names up to find their implementation. Argument names follow Keras where a Keras
layer does the work (`RandomFlip.mode`, `TextVectorization.max_tokens`, `Resizing.height`).
"""

from __future__ import annotations

from typing import Any

from modelspec.lang.schema.fragments import BOOL, INT, NUM, POS_INT, STR, obj, param_or

Schema = dict[str, Any]  # a JSON Schema fragment
Args = dict[str, Schema]  # argument name → its schema

STR_LIST = {"type": "array", "items": STR}
STR_OR_LIST = {"anyOf": [STR, STR_LIST]}
# A file path, or one path per named split: {train: a.csv, test: b.csv}.
PATHS = {"anyOf": [STR, {"type": "object", "additionalProperties": STR,
                         "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}}]}
SIZE2 = {"type": "array", "items": POS_INT, "minItems": 2, "maxItems": 2}
FACTOR = {"anyOf": [NUM, {"type": "array", "items": NUM, "minItems": 2, "maxItems": 2}]}
# the value missing CSV cells get: one number for every numeric column, or one per column
FILL = {"anyOf": [NUM, {"type": "object", "additionalProperties": NUM}],
        "description": "the number missing cells (empty or na_values) get: one for every "
                       "numeric column, or {column: number}; without it they are an error"}
DTYPE = {"enum": ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32",
                  "int64", "uint8", "bool", "string"]}

SKLEARN_NAMES = ("digits", "iris", "wine", "breast_cancer")

# A data set by its public origin (modelspec.data.fetch): the source's paths are then files of
# the data set's folder (a local copy in $MODELSPEC_DATA_DIR/<name>, else the Keras cache).
SHA256 = {"type": "string", "pattern": "^([0-9a-fA-F]{64}|unpublished)$",
          "description": "the sha256 the origin publishes (64 hex digits), or 'unpublished' "
                         "when it publishes none"}
REMOTE_FILE = obj({"url": {"type": "string", "pattern": "^(https?|ftp)://[^\\s]+$",
                           "description": "an http(s) or ftp URL"},
                   "sha256": SHA256,
                   "fname": {"type": "string", "pattern": "^[^/\\\\]+$",
                             "description": "a file name without folders"},
                   "extract": BOOL}, required=("url", "sha256"),
                  description="a file at its public origin (keras.utils.get_file)")
DOWNLOAD = obj({"name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                         "description": "the data set's folder name: letters, digits, _ . -"},
                "files": {"type": "array", "items": REMOTE_FILE, "minItems": 1}},
               required=("name", "files"),
               description="the data set's name (its folder of local copies) and its files, "
                           "fetched once into the Keras cache")
# sources whose paths may name the files of a `download:`
FILE_SOURCES = ("csv", "npz", "idx", "image_folder", "text", "timeseries", "cifar")

# type -> (argument schemas, required arguments, one-line description)
SOURCES: dict[str, tuple[Args, tuple[str, ...], str]] = {
    "sklearn": ({"name": {"enum": list(SKLEARN_NAMES)}, "n_class": POS_INT}, ("name",),
                "a data set shipped inside scikit-learn (fields: data, label; digits also images)"),
    "tfds": ({"name": STR, "data_dir": STR, "download": BOOL}, ("name",),
             "a TensorFlow Datasets data set by name (fields: its features)"),
    "csv": ({"path": PATHS, "header": BOOL, "column_names": STR_LIST, "columns": STR_LIST,
             "delimiter": STR, "na_values": STR_LIST, "fill_value": FILL, "skiprows": INT},
            ("path",),
            "a CSV file (fields: its columns; numeric columns as float32, others as strings)"),
    "npz": ({"path": PATHS, "field": STR}, ("path",),
            "NumPy .npz (fields: its arrays) or .npy (field: `field`, default 'data')"),
    "idx": ({"images": PATHS, "labels": PATHS}, ("images",),
            "MNIST-style IDX files, gzip or plain (fields: image, label)"),
    "image_folder": ({"path": PATHS, "image_size": SIZE2, "channels": {"enum": [1, 3, 4]},
                      "class_names": STR_LIST}, ("path",),
                     "one sub-folder of images per class (fields: image, label)"),
    "cifar": ({"path": STR}, ("path",),
              "CIFAR-10's binary version: a folder of data_batch_N.bin (train) and "
              "test_batch.bin (test), class names from batches.meta.txt (fields: image, label)"),
    "text": ({"path": PATHS, "unit": {"enum": ["line", "file"]}, "encoding": STR}, ("path",),
             "plain text, one example per line or per file (field: text)"),
    "timeseries": ({"path": PATHS, "columns": STR_OR_LIST, "target": STR_OR_LIST,
                    "window": POS_INT, "horizon": POS_INT, "stride": POS_INT,
                    "header": BOOL, "delimiter": STR, "na_values": STR_LIST,
                    "fill_value": FILL}, ("path", "columns", "window"),
                   "sliding windows over CSV columns (fields: window, target)"),
    "generated": ({"name": STR, "n": POS_INT, "noise": NUM, "size": POS_INT,
                   "length": POS_INT, "vocab_size": POS_INT, "frames": POS_INT,
                   "digits": POS_INT, "rows": {"enum": ["lecture", "all"]},
                   "max_shapes": POS_INT, "low": NUM, "high": NUM}, ("name",),
                  "synthetic data for the lecture examples"),
}

for _kind in FILE_SOURCES:
    SOURCES[_kind][0]["download"] = DOWNLOAD

# generated name -> (allowed extra args, fields it yields, description)
GENERATED: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "xor": (("n", "noise"), ("x", "label"), "noisy XOR of two inputs in [0, 1]"),
    "circles": (("n", "noise"), ("x", "label"), "two concentric circles"),
    "moons": (("n", "noise"), ("x", "label"), "two interleaving half moons"),
    "rosenbrock": (("n", "low", "high"), ("x", "z"), "z = 100(y − x²)² + (1 − x)²"),
    "sin_sin": (("n", "low", "high"), ("x", "z"), "z = sin(x)·sin(y)"),
    "credit": (("rows",), ("x", "label", "employed", "owns_house", "balanced_account"),
               "the lecture's credit-rating table (lecture: 6 rows, all: 8 combinations)"),
    "shapes": (("n", "size", "max_shapes"), ("image", "mask", "label", "labels"),
               "images of squares/circles/triangles with segmentation masks"),
    "moving_squares": (("n", "size", "frames"), ("clip", "label"),
                       "clips of a square moving in one of 4 directions (3-D CNNs)"),
    "seq_reverse": (("n", "length", "vocab_size"), ("source", "decoder_input", "target"),
                    "reverse a sequence of tokens (seq2seq)"),
    "seq_sort": (("n", "length", "vocab_size"), ("source", "decoder_input", "target"),
                 "sort a sequence of tokens (seq2seq)"),
    "seq_add": (("n", "digits"), ("source", "decoder_input", "target"),
                "add two numbers written as characters (seq2seq)"),
    "pix2pix": (("n", "size"), ("edges", "image"), "paired edge maps and filled shapes"),
    "digit_domains": ((), ("image", "label", "domain"),
                      "scikit-learn digits in two disjoint halves: clean (domain 0) and "
                      "|digit − photograph patch| (domain 1, MNIST-M style)"),
}
GENERATED_VOCAB = {"seq_add": "0123456789+"}  # token ids: 0 pad, 1 start, 2.. characters

FIELD = {"field": STR}
OUTPUT = {"output": STR}
# type -> (argument schemas, required arguments, description)
TRANSFORMS: dict[str, tuple[Args, tuple[str, ...], str]] = {
    "cast": ({**FIELD, **OUTPUT, "dtype": DTYPE}, ("field", "dtype"), "tf.cast"),
    "rescale": ({**FIELD, **OUTPUT, "scale": NUM, "offset": NUM}, ("field", "scale"),
                "x·scale + offset (keras.layers.Rescaling)"),
    "normalize": ({**FIELD, **OUTPUT, "axis": {"anyOf": [INT, {"type": "null"}]}}, ("field",),
                  "(x − mean) / std, statistics adapted on the training split "
                  "(keras.layers.Normalization)"),
    "resize": ({**FIELD, **OUTPUT, "height": POS_INT, "width": POS_INT,
                "interpolation": {"enum": ["bilinear", "nearest", "bicubic", "area"]}},
               ("field", "height", "width"), "image resize (keras.layers.Resizing)"),
    "pad": ({**FIELD, **OUTPUT, "padding": {"anyOf": [INT, {"type": "array"}]},
             "value": NUM}, ("field", "padding"),
            "constant padding: an int for every spatial side of an image, "
            "or [[before, after], ...]"),
    "reshape": ({**FIELD, **OUTPUT, "shape": {"type": "array", "items": INT}},
                ("field", "shape"), "reshape one example (-1 allowed once)"),
    "one_hot": ({**FIELD, **OUTPUT, "depth": POS_INT}, ("field", "depth"), "tf.one_hot"),
    "lookup": ({**FIELD, **OUTPUT, "vocabulary": {"type": "array"}, "max_tokens": POS_INT,
                "num_oov_indices": INT,
                "output_mode": {"enum": ["int", "one_hot", "multi_hot", "count"]}},
               ("field",), "categorical lookup adapted on the training split "
               "(keras.layers.StringLookup / IntegerLookup)"),
    "hashing": ({**FIELD, **OUTPUT, "num_bins": POS_INT,
                 "output_mode": {"enum": ["int", "one_hot", "multi_hot"]}},
                ("field", "num_bins"), "keras.layers.Hashing"),
    "cross": ({"fields": STR_LIST, **OUTPUT, "num_bins": POS_INT,
               "output_mode": {"enum": ["int", "one_hot"]}}, ("fields", "num_bins", "output"),
              "hashed feature cross of categorical fields (keras.layers.HashedCrossing)"),
    "stack": ({"fields": STR_LIST, **OUTPUT}, ("fields", "output"),
              "concatenate numeric fields into one float32 vector"),
    "replace": ({**FIELD, **OUTPUT, "pattern": STR, "rewrite": STR}, ("field", "pattern"),
                "regular-expression replacement in a string field"),
    "tokenize": ({**FIELD, **OUTPUT, "max_tokens": POS_INT,
                  "standardize": {"enum": ["lower_and_strip_punctuation", "lower",
                                           "strip_punctuation", None]},
                  "split": {"enum": ["whitespace", "character"]},
                  "output_sequence_length": POS_INT, "vocabulary": STR_LIST},
                 ("field",), "text → token ids (keras.layers.TextVectorization)"),
    "sequences": ({**FIELD, "length": POS_INT, "shift": POS_INT, "inputs": STR, "targets": STR},
                  ("field", "length"),
                  "token stream → windows: inputs = w[:-1], targets = w[1:]"),
    "skipgrams": ({**FIELD, "window_size": POS_INT, "negative_samples": INT,
                   "vocabulary_size": POS_INT}, ("field", "vocabulary_size"),
                  "skip-gram pairs with negative sampling (fields: target, context, label)"),
    "cbow": ({**FIELD, "window_size": POS_INT, "negative_samples": INT,
              "vocabulary_size": POS_INT}, ("field", "vocabulary_size"),
             "CBOW examples with negative sampling (fields: context, target, label)"),
    "noise": ({**FIELD, **OUTPUT, "stddev": NUM, "dropout": NUM, "clip": BOOL}, ("field",),
              "Gaussian / masking noise for denoising autoencoders (training split only)"),
    "filter": ({**FIELD, "values": {"type": "array", "items": param_or({"anyOf": [INT, STR]}),
                                    "minItems": 1}}, ("field", "values"),
               "keep only the examples whose integer or string field is one of `values` "
               "(tf.data.Dataset.filter; every split, not at serving time)"),
    "map_values": ({**FIELD, **OUTPUT, "mapping": {
                        "type": "object", "minProperties": 1,
                        "additionalProperties": param_or(NUM)},
                    "default": NUM}, ("field", "mapping"),
                   "map the values of an integer or string field through a table "
                   "(tf.lookup.StaticHashTable; keys are quoted: {'1': 0, '5': 1}); "
                   "values not in the table take `default`, else the pipeline stops"),
}
# transforms that restructure the stream (change the number of examples)
RESTRUCTURING = ("sequences", "skipgrams", "cbow")
# transforms that drop examples (the count is measured, the fields stay)
FILTERING = ("filter",)
# transform -> fields it creates when it has no `output:` (besides `output` or `field`)
TRANSFORM_FIELDS = {"sequences": ("inputs", "targets"),
                    "skipgrams": ("target", "context", "label"),
                    "cbow": ("target", "context", "label")}

AUG_FIELD = {"field": STR, "seed": INT}
# type -> (Keras layer class, argument schemas, required arguments)
AUGMENTS: dict[str, tuple[str, Args, tuple[str, ...]]] = {
    "random_flip": ("RandomFlip", {**AUG_FIELD, "mode": {
        "enum": ["horizontal", "vertical", "horizontal_and_vertical"]}}, ()),
    "random_rotation": ("RandomRotation", {**AUG_FIELD, "factor": FACTOR,
                                           "fill_mode": {"enum": ["reflect", "wrap",
                                                                  "constant", "nearest"]},
                                           "fill_value": NUM}, ("factor",)),
    "random_translation": ("RandomTranslation", {**AUG_FIELD, "height_factor": FACTOR,
                                                 "width_factor": FACTOR,
                                                 "fill_mode": {"enum": ["reflect", "wrap",
                                                                        "constant", "nearest"]},
                                                 "fill_value": NUM},
                           ("height_factor", "width_factor")),
    "random_zoom": ("RandomZoom", {**AUG_FIELD, "height_factor": FACTOR, "width_factor": FACTOR,
                                   "fill_mode": {"enum": ["reflect", "wrap", "constant",
                                                          "nearest"]},
                                   "fill_value": NUM}, ("height_factor",)),
    "random_contrast": ("RandomContrast", {**AUG_FIELD, "factor": FACTOR,
                                           "value_range": FACTOR}, ("factor",)),
    "random_brightness": ("RandomBrightness", {**AUG_FIELD, "factor": FACTOR,
                                               "value_range": FACTOR}, ("factor",)),
    "random_saturation": ("RandomSaturation", {**AUG_FIELD, "factor": FACTOR,
                                               "value_range": FACTOR}, ("factor",)),
    "random_crop": ("RandomCrop", {**AUG_FIELD, "height": POS_INT, "width": POS_INT},
                    ("height", "width")),
}

SPLIT_NAMES = ("train", "validation", "test")
