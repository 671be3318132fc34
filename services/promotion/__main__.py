from libs.platform.runtime import main
from services.promotion.service import definition

main(definition)
