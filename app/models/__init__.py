"""Every model, re-exported so Alembic's autogenerate sees the whole schema."""

from app.models.channel import Ability, Channel, ChannelStatus
from app.models.checkin import CheckIn
from app.models.log import Log, LogType, QuotaData
from app.models.option import Option, Setup
from app.models.plan import Plan, QuotaType, UserSubscription
from app.models.redemption import Redemption, RedemptionLog, RedemptionStatus
from app.models.task import Midjourney, Task
from app.models.token import Token, TokenStatus
from app.models.topup import TopUp, TopUpStatus
from app.models.two_fa import TwoFA, TwoFABackupCode
from app.models.user import Role, User, UserStatus

__all__ = [
    "Ability", "Channel", "ChannelStatus", "CheckIn", "Log", "LogType", "QuotaData", "Option", "Setup",
    "Plan", "QuotaType", "UserSubscription", "Redemption", "RedemptionLog", "RedemptionStatus",
    "Midjourney", "Task", "Token", "TokenStatus", "TopUp", "TopUpStatus", "TwoFA", "TwoFABackupCode",
    "Role", "User", "UserStatus",
]
