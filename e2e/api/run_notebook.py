"""Execute a notebook against the live server (ROOTLAB_URL) and fail if any cell fails."""

import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main(source: str, executed: str) -> int:
    notebook = nbformat.read(source, as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=False)
    try:
        client.execute()
    except CellExecutionError as err:
        print(f"notebook cell failed:\n{err}", file=sys.stderr)
        return 1
    finally:
        nbformat.write(notebook, executed)
    print(f"notebook ran: {len(notebook.cells)} cells, executed copy in {executed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
