from libs.platform.runtime import main
from services.framework.service import definition

main(definition)
