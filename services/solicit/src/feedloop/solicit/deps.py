"""Request-scoped access to what the app owns, as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Request
from feedloop.common.auth import ApiClient, require_scope
from feedloop.common.web import settings_of
from feedloop.solicit.programs import ProgramsConfig
from feedloop.solicit.settings import SCOPE_ERASE, SCOPE_READ, SCOPE_WRITE, SolicitSettings


def programs_of(request: Request) -> ProgramsConfig:
    """The survey programs the app was started with."""
    programs: ProgramsConfig = request.app.state.programs
    return programs


SettingsDep = Annotated[SolicitSettings, Depends(settings_of)]
ProgramsDep = Annotated[ProgramsConfig, Depends(programs_of)]
WriterDep = Annotated[ApiClient, Depends(require_scope(SCOPE_WRITE))]
ReaderDep = Annotated[ApiClient, Depends(require_scope(SCOPE_READ))]
EraserDep = Annotated[ApiClient, Depends(require_scope(SCOPE_ERASE))]
