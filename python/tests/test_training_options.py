"""The training options are one table, the library's: `train`'s signature and docstring
are made of it, the type stub and the regularisers' documentation agree with it."""

import ast
import inspect
import pathlib
import re

import diversenet as dn

STUB = pathlib.Path(dn.__file__).with_name("__init__.pyi")


def stub_function(name):
    tree = ast.parse(STUB.read_text())
    return next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == name)


def test_train_signature_and_docstring_are_the_table():
    options = dn.train_options()
    names = [o["name"] for o in options]
    assert names[:3] == ["width", "epochs", "seed"] and "lambda_" in names
    params = inspect.signature(dn.train).parameters
    assert list(params) == ["X", "y", *names, "X_test", "y_test"]
    for o in options:
        assert params[o["name"]].default == o["default"], o
        assert o["help"] in dn.train.__doc__, o["name"]
    defaults = {o["name"]: o["default"] for o in options}
    assert (defaults["width"], defaults["epochs"], defaults["lr"], defaults["optimizer"]) == (100, 20, 0.01, "adam")
    assert defaults["exact_metrics"] == 1 and defaults["momentum"] is None
    assert next(o for o in options if o["name"] == "momentum")["default_text"] == "0.9 where it applies"
    # Settings named in the help are Python's keywords, never the command line's flags.
    assert all("--" not in o["help"] for o in options)
    assert "lambda_=" in next(o for o in options if o["name"] == "reg")["help"]


def test_the_type_stub_has_the_tables_defaults():
    f = stub_function("train")
    stub = {a.arg: ast.literal_eval(d) for a, d in zip(f.args.kwonlyargs, f.args.kw_defaults)}
    table = {o["name"]: o["default"] for o in dn.train_options()}
    table.update(X_test=None, y_test=None)
    assert stub == table
    for o in table:
        assert type(stub[o]) is type(table[o]), o


def test_every_regulariser_of_the_registry_is_documented():
    reg = next(o for o in dn.train_options() if o["name"] == "reg")["help"]
    families = re.findall(r"^  (\S+):", reg, re.M)
    assert families == ["discrepancy", "mhe[0|1|2][-angular]", "mma", "orthogonal", "weight-decay"]
    stub_doc = ast.get_docstring(stub_function("regularizer"))
    for family in families:
        assert family in dn.regularizer.__doc__ and family in stub_doc, family
