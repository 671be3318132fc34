from libs.platform.runtime import main
from services.development.service import definition

main(definition)
