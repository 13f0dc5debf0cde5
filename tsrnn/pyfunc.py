"""tsrnn models as MLflow pyfunc models, without pickle.

A logged model is an MLflow "custom loader module" model: the tsrnn model directory
(safetensors + JSON) travels as the model's data and ``tsrnn.pyfunc._load_pyfunc`` loads it,
so ``mlflow.pyfunc.load_model("runs:/ID/model").predict(df)`` and ``mlflow models serve``
work wherever tsrnn is installed, and nothing is unpickled.

``predict(df)`` returns, for a forecaster, the forecast after the end of ``df`` (time column,
the id column with many series, one column per target and quantile); for a detector, one row
per row of ``df`` with the time, ``score``, ``is_anomaly``, ``likelihood`` and per-channel scores.

mlflow itself is imported only by the functions that need it.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tsrnn.errors import ModelFileError, TsrnnError

LOADER = "tsrnn.pyfunc"


def load_any(path: str | Path) -> Any:
    """A saved forecaster or detector directory, as the estimator class that saved it."""
    from tsrnn.estimators import RecurrentEstimator

    return RecurrentEstimator.load(path)


class TsrnnModel:
    """The object MLflow's pyfunc wrapper calls: ``predict(frame, params=None) -> frame``, which
    is the estimator's ``predict_frame``."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd

        if params:
            raise ModelFileError(f"tsrnn models take no predict params, got {sorted(params)}", "drop params")
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        try:
            return self.estimator.predict_frame(frame)
        except TsrnnError as e:  # the model server answers 400 with this message, not a stack trace
            from mlflow.exceptions import INVALID_PARAMETER_VALUE, MlflowException

            raise MlflowException(
                f"{e.message}" + (f" (hint: {e.hint})" if e.hint else ""), error_code=INVALID_PARAMETER_VALUE
            ) from e


def _load_pyfunc(data_path: str) -> TsrnnModel:
    """MLflow's entry point for loader-module models."""
    return TsrnnModel(load_any(data_path))


def requirements() -> list[str]:
    """The pip requirements of a logged model: tsrnn's own dependencies at their installed versions."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for name in ("torch", "numpy", "pandas", "scikit-learn", "safetensors"):
        try:
            reqs.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return reqs


def signature(example: Any, output: Any, time_col: str, id_col: str | None) -> Any:
    """Input: the value columns as doubles, the time (and id) column as any type, so that
    timestamps arrive as datetimes from pandas or as ISO strings from CSV and REST."""
    import warnings

    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    cols = [ColSpec(AnyType() if c in (time_col, id_col) else "double", c) for c in example.columns]
    with warnings.catch_warnings():  # its hint about integer columns concerns inputs; is_anomaly is an output
        warnings.simplefilter("ignore", UserWarning)
        outputs = infer_signature(example, output).outputs
    return ModelSignature(inputs=Schema(cols), outputs=outputs)


def log_model(mlflow: Any, est: Any, model_dir: str | Path, register: str | None = None) -> Any:
    """Log ``model_dir`` (where the fitted ``est`` is saved) as the run's pyfunc model ``model``
    with a signature and an input example (``est.example_frame()``)."""
    example = est.example_frame()
    model = TsrnnModel(est)
    sig = signature(example, model.predict(example), est.time_col_, est.id_col_)
    example = example.assign(**{est.time_col_: example[est.time_col_].astype(str)})  # as REST clients send it
    return mlflow.pyfunc.log_model(
        name="model",
        loader_module=LOADER,
        data_path=str(model_dir),
        signature=sig,
        input_example=example,
        pip_requirements=requirements(),
        registered_model_name=register,
    )


def save_model(model_dir: str | Path, dest: str | Path) -> Path:
    """Write ``model_dir`` as an MLflow model at ``dest`` (for `tsrnn serve` of a local directory)."""
    import mlflow

    mlflow.pyfunc.save_model(
        path=str(dest), loader_module=LOADER, data_path=str(model_dir), pip_requirements=requirements()
    )
    return Path(dest)


def is_mlflow_uri(text: str) -> bool:
    return "://" in text or text.startswith(("runs:/", "models:/"))


def fetch_model(uri: str, tracking_uri: str | None = None) -> tuple[Path, Path]:
    """Download a logged tsrnn model (``runs:/ID/model``, ``models:/NAME/VERSION``, ...):
    (the MLflow model directory, the tsrnn model directory inside it)."""
    from tsrnn.tracking import read_store

    _, store = read_store(tracking_uri)
    import mlflow
    import yaml

    mlflow.set_tracking_uri(store)
    dest = Path(tempfile.mkdtemp(prefix="tsrnn-model-"))
    atexit.register(shutil.rmtree, dest, True)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest)))
    except Exception as e:  # MlflowException, missing run, unknown registered model, ...
        raise ModelFileError(
            f"cannot fetch the model {uri} from the MLflow store {store} ({type(e).__name__}: {str(e)[:300]})",
            "check the run id or model name/version (`tsrnn runs`), and --tracking-uri",
        ) from e
    try:
        flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as e:
        raise ModelFileError(
            f"{uri} is not an MLflow model (no readable MLmodel)",
            "pass the model a tsrnn run logged: runs:/RUN_ID/model",
        ) from e
    if flavor.get("loader_module") != LOADER or not flavor.get("data"):
        raise ModelFileError(
            f"{uri} is an MLflow model, but not a tsrnn one (loader {flavor.get('loader_module')!r})",
            "pass a model logged by `tsrnn fit`",
        )
    return local, local / flavor["data"]


def local_model_dir(ref: str | Path, tracking_uri: str | None = None) -> Path:
    """`--model`: a local model directory as is, an MLflow model URI downloaded first."""
    if tracking_uri and not is_mlflow_uri(str(ref)):
        from tsrnn.errors import ConfigError

        raise ConfigError(
            f"--tracking-uri applies to an MLflow model (runs:/..., models:/...), not to the directory {ref}",
            "drop --tracking-uri",
        )
    return fetch_model(str(ref), tracking_uri)[1] if is_mlflow_uri(str(ref)) else Path(ref)


def load_ref(ref: str | Path, tracking_uri: str | None = None, cls: Any = None) -> Any:
    """`--model REF` loaded as ``cls`` (default: whichever estimator REF holds)."""
    return load_fetched(local_model_dir(ref, tracking_uri), ref, cls)


def load_fetched(path: Path, ref: str | Path, cls: Any = None) -> Any:
    """Load the model directory ``path`` that ``ref`` resolved to; errors name ``ref``, not the
    temporary directory an MLflow model was downloaded to."""
    try:
        return cls.load(path) if cls is not None else load_any(path)
    except ModelFileError as e:
        if not is_mlflow_uri(str(ref)):
            raise
        raise ModelFileError(e.message.replace(str(path), str(ref)), e.hint) from e
