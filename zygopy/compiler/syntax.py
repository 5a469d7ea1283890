"""The Python syntax zygopy supports: the one list the fence and the passes share."""

from __future__ import annotations

import ast

STATEMENTS = (
    ast.FunctionDef, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.If,
    ast.For, ast.While, ast.Break, ast.Continue, ast.Pass, ast.Expr, ast.Assert,
    ast.Raise,
)
EXPRESSIONS = (
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Attribute,
    ast.Subscript, ast.Name, ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.IfExp,
    ast.Lambda, ast.ListComp, ast.Slice, ast.Starred, ast.keyword, ast.JoinedStr,
    ast.FormattedValue, ast.comprehension, ast.arguments, ast.arg, ast.NamedExpr,
    ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop,
)
SUPPORTED = STATEMENTS + EXPRESSIONS

# what a user sees for the constructs we refuse, and what they can do instead
REFUSED = {
    ast.Yield: ("a generator (yield)", ["return a list instead of yielding"]),
    ast.YieldFrom: ("a generator (yield from)", ["return a list instead"]),
    ast.AsyncFunctionDef: ("an async function", ["differentiate a plain def"]),
    ast.Await: ("await", ["differentiate synchronous code"]),
    ast.AsyncFor: ("async for", ["use a plain for loop"]),
    ast.AsyncWith: ("async with", ["move it outside the differentiated function"]),
    ast.Try: ("try/except", [
        "move error handling outside the differentiated function",
        "give the function a custom rule with @zygopy.rule"]),
    ast.With: ("a with statement", ["move it outside the differentiated function"]),
    ast.Global: ("a write to a global variable (global)", [
        "return the value instead of writing a global"]),
    ast.Nonlocal: ("a write to an enclosing variable (nonlocal)", [
        "return the value instead of writing an enclosing variable"]),
    ast.Delete: ("del", ["let the name go out of scope instead"]),
    ast.ClassDef: ("a class definition inside a differentiated function", [
        "define the class at module level"]),
    ast.Import: ("an import inside a differentiated function", [
        "import at module level"]),
    ast.ImportFrom: ("an import inside a differentiated function", [
        "import at module level"]),
    ast.SetComp: ("a set comprehension", ["use a list comprehension"]),
    ast.GeneratorExp: ("a generator expression (other than the only argument of sum, "
                       "min, max, tuple, list or sorted)", [
                           "use a list comprehension: any([f(x) for x in xs])"]),
    ast.Match: ("a match statement", ["use if/elif/else"]),
    ast.Set: ("a set literal", ["use a list or tuple"]),
}
