from libs.platform.runtime import main
from services.cycles.service import definition

main(definition)
