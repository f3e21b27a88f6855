"""A PNG of images in titled rows, shared by the example scripts (`denoise_grid.py`,
`pix2pix_eval.py`); run from `examples/` or as `python examples/<script>.py`, so importable."""


def save_rows(rows, out: str, **imshow) -> None:
    """Draws each `(title, images)` row left to right and writes the figure to `out`.

    Args:
        rows: `(title, images)` pairs; every row has the same number of images.
        out: The PNG file to write.
        **imshow: Passed to `matplotlib.axes.Axes.imshow` (e.g. `cmap="gray"`).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.95, len(rows) * 1.0), squeeze=False)
    for row, (title, images) in enumerate(rows):
        for col in range(n):
            ax = axes[row, col]
            ax.imshow(images[col], **imshow)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
