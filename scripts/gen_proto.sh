#!/usr/bin/env bash
# Regenerates service/api/_generated from proto/ with the pinned grpcio-tools
# (see pyproject.toml [dev]). Never edit the generated files by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${1:-service/api/_generated}
rm -rf "$OUT"
mkdir -p "$OUT"
# google/rpc/*.proto (the rich error Status) ship with googleapis-common-protos.
GOOGLE_PROTOS=$("$PY" -c 'import os, google.rpc.status_pb2 as m; print(os.path.dirname(os.path.dirname(os.path.dirname(m.__file__))))')
"$PY" -m grpc_tools.protoc -I proto -I "$GOOGLE_PROTOS" \
  --python_out="$OUT" --pyi_out="$OUT" --grpc_python_out="$OUT" \
  proto/nigran/v1/*.proto
# protoc writes imports relative to the proto root; make them package-relative
# so the generated code needs no sys.path changes.
find "$OUT" -name '*.py' -print0 | xargs -0 sed -i -E \
  's/^from nigran\.v1 import /from service.api._generated.nigran.v1 import /'
touch "$OUT/__init__.py" "$OUT/nigran/__init__.py" "$OUT/nigran/v1/__init__.py"
